"""Developer tools (throwaway servers for tests and benchmarks); not used by the product at run time."""
