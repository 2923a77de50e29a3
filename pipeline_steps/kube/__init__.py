"""The only code of the release path that imports `kubernetes`: credentials, apply, watches, predicates."""
