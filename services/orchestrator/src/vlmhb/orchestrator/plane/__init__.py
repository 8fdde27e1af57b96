"""The management plane under Docker Compose (``vlmhb up`` / ``vlmhb down``): the compose
command behind one interface (``compose``), the health wait and failure report
(``health``), the plane's settings and folders (``settings``), bring-up and stop
(``plane``) and the CLI (``cli``). See docs/deployment.md."""
