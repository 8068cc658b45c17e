"""The central server: the UI app plus the ingest API and the auth gate, under waitress.

::

    app.py        create_server_app() and serve(): what `localtrack server` runs
    auth.py       the gate in front of every request (Host, policy, key or session, rate limit)
    policies.py   the role and project scope each endpoint needs; deny by default
    access.py     who is asking (Principal) and how a refusal is answered
    sessions.py   signed session cookies and their CSRF tokens
    login.py      the /login and /logout pages
    ratelimit.py  token buckets per key and per address
    ingest.py     the ingest API: negotiate → PUT blobs → commit

The UI alone (`localtrack ui`, no keys) is served by ``webui/standalone.py``.
"""
