local M = {}
function M.main(arg)
  io.stdout:write("certbot ", require("certbot.core").version, "\n")
  return 0
end
return M
