"""Briefs before customer meetings: what a rep's calls say about a customer (``facts.py``),
which customer a meeting is with (``customers.py``), the look-ahead over reps' calendars that
sends each brief once (``lookahead.py``, ``ledger.py``), and ``brief <customer>`` in the chat
(``on_demand.py``)."""
