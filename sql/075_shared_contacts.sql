-- Which registrable domains showed which e-mail or phone: the same contact on several unrelated company sites
-- is a vendor's (a booking platform, an agency, a host), not theirs. Written by the scrape stage for every
-- contact a website lead showed, its own and someone else's; read to count the domains of a contact.
CREATE TABLE IF NOT EXISTS shared_contacts (
    kind        text NOT NULL CHECK (kind IN ('email', 'phone')),
    value       text NOT NULL,
    domain      text NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, value, domain)
);
