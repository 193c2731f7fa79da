"""The witness program (C2SP tlog-witness): ``core`` does the work, ``http`` serves it,
``cli`` is ``tally-service witness``. It imports crypto/ and never the service's election."""
