"""The elector's side: build, encrypt and sign a ballot (ballot.py) and ``tally-service vote``
(vote.py), the booth without a browser, run on the elector's own machine."""
