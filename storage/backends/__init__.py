"""Where bytes live: the object interface (`objects`), its local-disk and S3 implementations
(`local`, `s3`), store URLs and their defaults (`urls`), and the retry policy for an
unavailable store (`retry`)."""
