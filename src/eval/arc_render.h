// Pictures of ARC grids in the standard ARC palette: side by side on a terminal (24-bit colour
// backgrounds, or digits when the output is not a terminal) and as an SVG image.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "data/arc.h"

namespace ponder {

// One line of the picture: captioned grids left to right.
using ArcRow = std::vector<std::pair<std::string, ArcGrid>>;

std::string arc_render_terminal(const ArcRow& row, bool colour);
void write_arc_svg(const std::string& path, const std::string& title,
                   const std::vector<ArcRow>& rows);

}  // namespace ponder
