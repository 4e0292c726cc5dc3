"""Pure helpers that several layers share, with no I/O of their own: site identity (domains), places
(regions, geo), text and cell safety (controls, spreadsheet, masking), durations, rate limits and
webhook events. Nothing here imports another layer of leadworker."""
