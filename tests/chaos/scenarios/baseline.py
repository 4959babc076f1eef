"""No fault: the workload through a healthy stack. Every other scenario is this plus faults."""

DESCRIPTION = "no fault injected: the oracle and the pipeline agree on a healthy stack"
