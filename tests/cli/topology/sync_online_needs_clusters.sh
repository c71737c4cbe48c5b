# sync-online (built now: it was this test's "not built yet" example) needs both clusters.
"$CLSYNC" sync-online /tmp/nowhere --where 'date>today-7' --db Level1
