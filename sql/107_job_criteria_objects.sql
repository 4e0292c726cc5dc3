-- A job row made by a worker (its message came straight from a producer, without a row, or was failed at once)
-- stored its criteria as a JSON string holding the object's text, not as the object: the pool's jsonb codec
-- encoded text that was JSON already. The dashboard's job page could not read such a row and the API returned
-- the text. The writes are fixed; this turns the rows written before into the objects they stand for.
UPDATE scrape_jobs SET criteria = (criteria #>> '{}')::jsonb WHERE jsonb_typeof(criteria) = 'string';
