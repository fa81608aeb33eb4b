"The `mlproj` command: one `Command` per subcommand, its arguments beside its handler; `main` parses and dispatches. Imports every layer, lazily: only `core` at start-up."
