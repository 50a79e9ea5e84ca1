"""The only modules that talk to AWS. Everything above them takes and returns plain data."""
