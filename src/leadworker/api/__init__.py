"""The HTTP API (``leadworker api``): FastAPI on uvicorn, over the same store, broker and connections as the CLI.

``app.create_app`` builds the application; one module per concept beside it: ``services`` (the database pool
and a confirmed publisher, reopened when the broker comes back), ``auth`` (Bearer tokens and scopes),
``problems`` (every error as ``{"error": {"code", "message", "fields"}}``), ``limits`` (the body limit),
``telemetry`` (request counts and latency), and the routes.
"""
