-- Live job events (GET /api/v1/events): every job_events row is announced on channel leadworker_job_events
-- (its id only; listeners read the rows, so a payload never nears NOTIFY's 8000-byte limit). NOTIFY is
-- delivered at commit, so a listener never reads an event that may still roll back.
CREATE FUNCTION notify_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('leadworker_job_events', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER job_events_notify AFTER INSERT ON job_events
    FOR EACH ROW EXECUTE FUNCTION notify_job_event();
