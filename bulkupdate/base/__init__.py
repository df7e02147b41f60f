"""The ground floor every layer stands on: logs, the retry policy, network conventions,
files opened safely, counts in words, and the API's facts and endpoints as pure values
(api, endpoint: settings and source name them, so they sit below both)."""
