# The subset of nixpkgs' lib that tubesum's nix files use, with the same semantics.
let
  lib = {
    inherit (builtins)
      attrValues
      concatLists
      concatStringsSep
      elem
      filter
      mapAttrs
      ;

    fix =
      f:
      let
        x = f x;
      in
      x;

    genAttrs =
      names: f:
      builtins.listToAttrs (
        map (name: {
          inherit name;
          value = f name;
        }) names
      );

    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: xs: if cond then xs else [ ];
    optionalAttrs = cond: as: if cond then as else { };
    concatMap = f: xs: builtins.concatLists (map f xs);
    hasPrefix = prefix: s: builtins.substring 0 (builtins.stringLength prefix) s == prefix;

    importTOML = path: builtins.fromTOML (builtins.readFile path);

    getName =
      x:
      if builtins.isString x then
        (builtins.parseDrvName x).name
      else
        x.pname or (builtins.parseDrvName x.name).name;
    getExe = x: "${x}/bin/${x.meta.mainProgram}";

    makeSearchPath = sub: pkgs: builtins.concatStringsSep ":" (map (p: "${p}/${sub}") pkgs);
    makeBinPath = lib.makeSearchPath "bin";
    makeLibraryPath = lib.makeSearchPath "lib";

    # lib.fileset: only unions of paths and toSource, which copies just those paths below root.
    fileset = {
      unions = paths: paths;
      toSource =
        {
          root,
          fileset,
        }:
        let
          wanted = map toString (if builtins.isList fileset then fileset else [ fileset ]);
          keep =
            path: type:
            builtins.any (
              f:
              path == f
              || lib.hasPrefix (f + "/") path
              || (type == "directory" && lib.hasPrefix (path + "/") f)
            ) wanted;
        in
        builtins.path {
          name = "source";
          path = root;
          filter = keep;
        };
    };

    licenses = {
      asl20 = {
        spdxId = "Apache-2.0";
        free = true;
      };
      mit = {
        spdxId = "MIT";
        free = true;
      };
      unfree = {
        shortName = "unfree";
        free = false;
      };
    };

    platforms.linux = [
      "x86_64-linux"
      "aarch64-linux"
    ];
  };
in
lib
