"""The session ledger: every session accounted for, from its start to its transcript (docs/ledger.md).

Three independent records of each session are joined by session id: the CloudTrail call that started (resumed or
terminated) it (`calls`), what its log stream delivered (`model.StreamDelivery`, written by the subscription
function) and the transcript object S3 received (`calls.transcript_object`). `findings` holds the findings only
the join can give, as data, and `decisions` decides which are due for one session. Pure: the table, DescribeSessions
and S3 are behind `sessionguard.adapters.session_ledger`.
"""
