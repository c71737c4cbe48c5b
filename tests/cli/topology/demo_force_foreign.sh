# --force replaces a demo, never files the demo did not make.
mkdir d && echo mine > d/notes.txt
"$CLSYNC" demo --dir d --force
