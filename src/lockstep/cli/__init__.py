"""The command-line shell: parses, calls the project facade, renders."""
