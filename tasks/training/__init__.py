"""One training round, as the pipeline runs it: the Prefect task (`task`), the round itself in
this process or in each training process (`round`), torchrun's launch of those processes
(`launch`, `worker`), nodes that follow node 0 (`nodes`), checkpoints (`checkpoints`) and the
progress users watch (`monitor`)."""
