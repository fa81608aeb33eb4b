"Models at work: the fast inference paths, batch scoring and the HTTP server. Imports the layers below `reporting`, never `reporting` or `cli`."
