// The web page of `medcode serve`, embedded at build time from data/serve/.
#pragma once

#include <string_view>

namespace medcode::serve {

// The text of the embedded file `name` (index.html), or "" for an unknown name.
std::string_view embedded_page(std::string_view name);

}  // namespace medcode::serve
