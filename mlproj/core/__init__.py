"Settings, errors, the task registry and safe file writes: what every other layer builds on. Imports nothing of mlproj."
