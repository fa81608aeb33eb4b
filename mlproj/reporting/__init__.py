"Reports: papermill runs of the packaged templates and their HTML. Imports the layers below `deploy`, never `deploy` or `cli`."
