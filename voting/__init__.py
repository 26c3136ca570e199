"""Synchronized voting rounds: pure rules, results, the audit chain and clock sync.

Nothing here imports the web layer or the other domain packages. The application
(``councilcast.routes.voting``) calls into these modules and runs the storage functions
of :mod:`voting.store` inside its database transactions.
"""

from voting.rules import VotingError, Tally, check_tally, check_round_spec, check_assembly_spec
from voting.result import compute_result
from voting.audit import canonical, record_hash, genesis_hash, verify_export

__all__ = [
    "VotingError", "Tally", "check_tally", "check_round_spec", "check_assembly_spec",
    "compute_result", "canonical", "record_hash", "genesis_hash", "verify_export",
]
