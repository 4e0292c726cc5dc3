"""The web dashboard ``leadworker api`` serves at ``/``: server-rendered pages (Jinja2, autoescaped) over the same
store and the same job, lead and dead-letter actions as the HTTP API, signed in with an API token.

``mount.mount_dashboard`` adds it to the API's app; beside it, one module per concept: ``viewer`` (the session
cookie and scopes), ``csrf`` (every POST carries the session's token), ``rendering`` (templates, filters, the
security headers), ``charts`` (inline SVG), ``job_form`` (the submit form read as a ScrapeJob), ``signin``, and
the pages (``pages_overview``, ``pages_jobs``, ``pages_leads``, ``pages_ops``) and ``live_stream`` (the job
event stream for the session's browser). Templates and static files sit beside them as package data.
"""
