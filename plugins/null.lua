-- null: an installer that installs nothing (certonly, and `run -i null`).
local P = {
  name = "null",
  description = "Null Installer",
  installer = true,
}

local Inst = {}
Inst.__index = Inst

function P.new(config)
  return setmetatable({ config = config }, Inst)
end

function Inst.names() return {} end
function Inst.deploy_cert() return true end
function Inst.enhance() return true end
function Inst.supported_enhancements() return {} end
function Inst.save() return true end
function Inst.rollback() return true end
function Inst.recovery() return true end
function Inst.config_test() return true end
function Inst.restart() return true end

return P
