"""Synchronized voting rounds: pure rules, results, the audit chain and clock sync.

Nothing here imports the web layer or the other domain packages, and nothing here holds
SQL. The application's service (:mod:`councilcast.services.voting`) calls into these
modules, and its store (:mod:`councilcast.stores.voting`) reads and writes the rows and
carries out what :mod:`voting.consequences` decides at a close (a runoff, a recall).
"""

from voting.rules import VotingError, Tally, check_tally, check_round_spec, check_assembly_spec
from voting.result import compute_result
from voting.audit import canonical, record_hash, genesis_hash, verify_export

__all__ = [
    "VotingError", "Tally", "check_tally", "check_round_spec", "check_assembly_spec",
    "compute_result", "canonical", "record_hash", "genesis_hash", "verify_export",
]
