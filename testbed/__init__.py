"""CSE testbed: builds the CSE runtime and runs its conformance suites."""
