"""What the store writes about its artifacts: names and refs (`refnames`), object keys
(`layout`), manifests (`manifest`), versions and retractions (`version`), and reading them
back (`reader`). Records never change once written."""
