"""The config file: its schema (pydantic), its loader, and a standard-library reader for the
hook's fast path. Importing the package imports nothing."""
