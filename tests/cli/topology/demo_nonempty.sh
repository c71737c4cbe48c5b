# A non-empty directory is refused, and nothing in it is touched.
mkdir d && echo mine > d/notes.txt
"$CLSYNC" demo --dir d
code=$?
[ "$(cat d/notes.txt)" = mine ] && [ "$(ls d)" = notes.txt ] || exit 99
exit $code
