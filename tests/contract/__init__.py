"""Contract tests: the client against local servers that speak the documented protocol of a CI service."""
