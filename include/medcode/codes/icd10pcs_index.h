// Reader of the ICD-10-PCS Alphabetic Index XML (icd10pcs_index_YYYY.xml; schema icd10pcs_index_YYYY.xsd):
// main terms and nested terms leading to a code (<code>), to a table or body part whose remaining characters
// the Tables give (<codes>, <tab>), to another term (<see>) or to the body part or device key's value
// (<use>).
#pragma once

#include <string>
#include <string_view>

#include "medcode/codes/alphabetic_index.h"

namespace medcode::codes {

// Parses index XML held in `xml` (modified in place). A term's code is its <code>, <codes> or <tab>, or the
// <codes> or <tab> inside its <see> or <use>, in upper case; code_incomplete when it has fewer than 7
// characters. `see` holds the text of a <see> or of a <use>, without the code inside it. A term without a
// title (one that only holds a <see>, <use> or code) keeps an empty title and its parent's path. Errors are
// Error(bad_input) naming the file and line: malformed XML, another root, a main term without a title, a code
// of the wrong shape, no terms at all.
Index parse_icd10pcs_index(std::string& xml, std::string_view source);

// Whether `text` starts like an ICD-10-PCS index file (its root element is in the first 4 KiB).
bool looks_like_icd10pcs_index(std::string_view text);

}  // namespace medcode::codes
