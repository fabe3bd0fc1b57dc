"""Clinical document building blocks shared by the DMP and MSSanté plugins (pure, no hooks, no I/O).

- `valuesets`: the CI-SIS / DMP value sets (JSON data files in `valuesets/`), ASS_X04, masking codes;
- `derive`: `metadata_for(document, practice, type_code)` (a `ValidatedDocument` -> `DocumentMetadata`);
- `model`: `DocumentMetadata` (+ `Patient`, `Author`, `Organisation`), the one input of both builders;
- `cda`: `build_cda(meta, pdf)` (CDA R2 level 1 wrapping a PDF) and `read_header(cda)`;
- `xds`: `document_entry`, `submission_set`, `submit_objects_request` (ebRIM) and `read_registry_objects`.

See docs/clinical-documents.md for an example.
"""
