// Reader of the ICD-10-CM Alphabetic Index XML (icd10cm_index_YYYY.xml and the External Cause index,
// icd10cm_eindex_YYYY.xml; schema icd10cm_index_YYYY.xsd): a tree of terms leading to codes or to other terms.
#pragma once

#include <string>
#include <string_view>

#include "medcode/codes/alphabetic_index.h"

namespace medcode::codes {

// Parses index XML held in `xml` (modified in place); errors are Error(bad_input) with the line number.
Index parse_icd10cm_index(std::string& xml, std::string_view source);

}  // namespace medcode::codes
