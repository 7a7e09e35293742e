"""The files inside the pipeline's own artifacts (a model's files are the library's:
`lightrnn.checkpoint`)."""

COSTS = "costs.npz"  # a round's accumulated reallocation costs (`lightrnn.costs.Costs`)
METRICS = "metrics.json"  # an evaluation's perplexity and counts
REPORT = "report.md"  # a run's markdown report
