# A subcommand that is not built yet says so and exits 1, whatever arguments it is given.
"$CLSYNC" sync-online /tmp/nowhere --where 'date>today-7' --db Level1
