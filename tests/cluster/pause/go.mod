module example.invalid/adr-pause

go 1.26
