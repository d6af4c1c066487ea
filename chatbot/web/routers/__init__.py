"""The web routers: the HTTP API, the staff pages, the widget and its embedded chat."""
