"""mlxmed studio: a local web app over the library, as thin as the CLI. A clinician labels
notes, trains, and reviews what the model extracted, in a browser, on this computer only:
the server listens on 127.0.0.1, answers only a browser that holds its one-time token, and
serves every file the page needs itself."""
