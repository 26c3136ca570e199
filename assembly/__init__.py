"""The Central Assembly's procedure: sessions, their agenda and the speakers' list (pure rules).

Nothing here imports the web layer, the other domain packages or SQL. The application's
service (:mod:`councilcast.services.sessions`) applies these rules, its store keeps the rows,
and a decision item's vote is a round of :mod:`voting`, opened through the voting service.
"""
