"""Evolution search with the latency-aware prior (paper Algorithm 1)."""

from autonad_core.search.candidates import CandidateScore, InheritedEvaluator
from autonad_core.search.evolution import EvolutionSearch, SearchError, SearchResult, plot_search
from autonad_core.search.stage import SearchOutput, run_search

__all__ = [
    "CandidateScore",
    "EvolutionSearch",
    "InheritedEvaluator",
    "SearchError",
    "SearchOutput",
    "SearchResult",
    "plot_search",
    "run_search",
]
