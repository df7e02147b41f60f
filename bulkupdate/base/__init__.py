"""The ground floor every layer stands on: logs, the retry policy, network conventions,
files opened safely, counts in words."""
