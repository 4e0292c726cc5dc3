-- Contact verification and geocoding (issue #16).

-- What DNS says about an e-mail domain's mail servers, kept for the answer's TTL: a domain is asked once however
-- many leads share it. outcome: mx (mail servers listed), address (no MX: mail goes to the domain's A/AAAA, RFC
-- 5321), null_mx (RFC 7505 "0 .": the domain takes no mail), no_mail (no MX, A or AAAA), no_domain (NXDOMAIN).
-- A lookup that failed (timeout, SERVFAIL) is not kept: the domain is asked again at its next enrichment.
CREATE TABLE mail_domains (
    domain      text PRIMARY KEY,
    outcome     text NOT NULL CHECK (outcome IN ('mx', 'address', 'null_mx', 'no_mail', 'no_domain')),
    mx_hosts    text[] NOT NULL DEFAULT '{}',
    catch_all   boolean,
    checked_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

-- The verdict on each e-mail address: safe / risky / invalid / unknown (Reacher's is_reachable), and why.
CREATE TABLE email_checks (
    address     text PRIMARY KEY,
    domain      text NOT NULL,
    status      text NOT NULL CHECK (status IN ('safe', 'risky', 'invalid', 'unknown')),
    reason      text NOT NULL,
    role        boolean NOT NULL,
    free        boolean NOT NULL,
    disposable  boolean NOT NULL,
    smtp        text CHECK (smtp IN ('accepted', 'rejected', 'deferred', 'failed')),
    checked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX email_checks_domain_idx ON email_checks (domain);

-- Where a lead is: offline at city precision (GeoNames), refined by an HTTP geocoder when one is configured.
-- geo_query is what was geocoded, so a lead whose place changed is placed again.
ALTER TABLE leads
    ADD COLUMN latitude       double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude      double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN geo_precision  text CHECK (geo_precision IN ('street', 'postcode', 'city')),
    ADD COLUMN geo_source     text,
    ADD COLUMN geo_query      text,
    ADD COLUMN geocoded_at    timestamptz;

-- Distance filters (leads export --near) scan a bounding box through this index, then measure exactly.
CREATE INDEX leads_location_idx ON leads USING gist (point(longitude, latitude))
    WHERE merged_into IS NULL AND latitude IS NOT NULL;

-- The HTTP geocoder's answers by query (found or not), so a place is asked once.
CREATE TABLE geocodes (
    query         text PRIMARY KEY,
    found         boolean NOT NULL,
    latitude      double precision,
    longitude     double precision,
    precision     text CHECK (precision IN ('street', 'postcode', 'city')),
    display_name  text,
    fetched_at    timestamptz NOT NULL DEFAULT now()
);

-- The HTTP geocoder's pace across every worker: each request reserves the next free slot.
CREATE TABLE geocoder_pace (
    endpoint  text PRIMARY KEY,
    next_at   timestamptz NOT NULL
);
