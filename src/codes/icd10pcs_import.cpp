#include "medcode/codes/import.h"
#include "medcode/util/error.h"
namespace medcode::codes {
ImportSummary import_icd10pcs(store::Database&, const ImportOptions&) { fail(ExitCode::internal, "todo"); }
}
