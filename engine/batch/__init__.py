"""Scale-out on dask.distributed: many scenes as tasks (`batch`), or one huge scene split into
chunks of tile rows across workers (`fuse --scheduler`). Workers read their own windows and write
their own files; nothing bigger than a small dict travels through the scheduler. dask is imported
only here, and only when these commands run."""
