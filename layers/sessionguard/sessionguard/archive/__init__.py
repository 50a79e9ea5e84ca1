"""The session archives as evidence (docs/hunt.md): transcripts in S3 and session streams in CloudWatch Logs read
where they are, and scanned again with today's rules; and `sessionguard scan` of local exports on every core.

`sources` turns an archive URL (`s3://bucket/prefix/`, `logs://group[/stream-prefix]`) into units of work (one S3
object, one log stream) and each unit into session events, through `adapters.archive`; `scanning` scans units in
parallel with a checkpoint and a progress line; `hunt` is the batch logic of the organisation-wide hunt, the Step
Functions Distributed Map's Lambda (functions/hunt_batch) and its summary. `parallel` scans files and standard
input on worker processes, whole sessions each, the output the same bytes whatever the number of workers.
"""
