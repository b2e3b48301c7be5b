/*
 * The Romulus view in Hawtio 2: the protected domains of this node at a glance (role, state, peer, epoch rate, pause,
 * lag), the engine's alarms, and live charts of the pause and the dirty rate of each domain. It reads the MBeans
 * io.romulus:type=Protection,domain=... and io.romulus:type=Engine,name=engine through Hawtio's Jolokia once a second,
 * so whatever the user may not read or do is refused there (the JMX ACLs, Hawtio's RBAC restrictor).
 *
 * Hawtio loads this script before it starts Angular (hawtio:type=plugin,name=romulus names it); it is plain
 * AngularJS 1.x, as the rest of Hawtio 2.
 */
(function () {
  'use strict';

  var MODULE = 'romulus';
  var PROTECTIONS = 'io.romulus:type=Protection,*';
  var ENGINE = 'io.romulus:type=Engine,name=engine';
  var ATTRIBUTES = ['Domain', 'Role', 'State', 'Peer', 'Detail', 'Epoch', 'CheckpointsPerSecond', 'IntervalMs',
    'LastPauseMicros', 'MeanPauseMicros', 'P99PauseMicros', 'DirtyPagesPerSecond', 'LagEpochs', 'AckLatencyMicros',
    'OutputHeldPackets', 'InitialSyncPercent', 'EngineCpuMicrosPerCheckpoint', 'EngineCpuMillisPerSecond', 'LastAlarm'];
  /** Samples kept per chart: two minutes at one a second. */
  var SAMPLES = 120;
  var WIDTH = 480;
  var HEIGHT = 120;

  /** An object name with its key properties sorted, as the JMX tree of Hawtio and Jolokia's answers may differ. */
  function canonical(name) {
    var colon = name.indexOf(':');
    return name.substring(0, colon + 1) + name.substring(colon + 1).split(',').sort().join(',');
  }

  /** The SVG polyline of a series scaled to the chart, newest on the right; the largest value is the top. */
  function chart(values) {
    var max = Math.max.apply(null, values.concat([1]));
    var step = WIDTH / (SAMPLES - 1);
    var offset = SAMPLES - values.length;
    var points = values.map(function (v, i) {
      var x = (offset + i) * step;
      var y = HEIGHT - (v / max) * (HEIGHT - 4);
      return x.toFixed(1) + ',' + y.toFixed(1);
    });
    return {points: points.join(' '), max: max, last: values.length ? values[values.length - 1] : 0};
  }

  function number(v, digits) {
    return typeof v === 'number' ? v.toFixed(digits || 0) : '';
  }

  /** The charts' samples by MBean, kept while the user looks elsewhere in Hawtio (the view polls while shown). */
  var history = {};

  RomulusController.$inject = ['$scope', '$interval', 'jolokia', 'workspace'];
  function RomulusController($scope, $interval, jolokia, workspace) {
    var ctrl = this;
    ctrl.domains = [];
    ctrl.alarms = [];
    ctrl.message = '';
    ctrl.error = '';
    ctrl.number = number;
    ctrl.width = WIDTH;
    ctrl.height = HEIGHT;

    /** The JMX tree's folder of the MBean, once the tree holds it. */
    function folderOf(mbean) {
      var tree = workspace.tree;
      if (!tree || !tree.findDescendant) {
        return null;
      }
      var wanted = canonical(mbean);
      return tree.findDescendant(function (f) {
        return f.objectName && canonical(f.objectName) === wanted;
      });
    }

    /** The Hawtio JMX page of the MBean, once the JMX tree holds it. */
    function jmxLink(mbean) {
      var folder = folderOf(mbean);
      return folder ? 'jmx/attributes?nid=' + encodeURIComponent(folder.key) : null;
    }

    /**
     * Makes the MBean the JMX tab's selection before a link takes the browser there. Hawtio's attributes page asks
     * for the attributes' types (which tell it to show a table of strings as key=value lines) of the selection it
     * finds when it opens; left to itself it could find the MBean selected before (a domain's, from an earlier
     * visit), keep that one's types for the whole visit and show the Engine's Status and Alarms as [object Object]
     * (seen in HawtioViewIT on a loaded machine).
     */
    ctrl.select = function (mbean) {
      var folder = folderOf(mbean || ENGINE);
      if (folder) {
        workspace.selection = folder;
      }
    };

    function update(protections, alarms) {
      var seen = {};
      var rows = Object.keys(protections).sort().map(function (mbean) {
        var a = protections[mbean];
        var h = history[mbean] || (history[mbean] = {pause: [], dirty: []});
        h.pause.push(a.LastPauseMicros || 0);
        h.dirty.push(a.DirtyPagesPerSecond || 0);
        if (h.pause.length > SAMPLES) {
          h.pause.shift();
          h.dirty.shift();
        }
        seen[mbean] = true;
        return {mbean: mbean, a: a, link: jmxLink(mbean), pause: chart(h.pause), dirty: chart(h.dirty)};
      });
      Object.keys(history).forEach(function (mbean) {
        if (!seen[mbean]) {
          delete history[mbean];
        }
      });
      ctrl.domains = rows;
      ctrl.engineLink = jmxLink(ENGINE);
      ctrl.alarms = Object.keys(alarms || {}).sort().reverse().map(function (key) {
        return {when: key, what: alarms[key]};
      });
    }

    function poll() {
      var answers = {};
      jolokia.request([
        {type: 'read', mbean: PROTECTIONS, attribute: ATTRIBUTES},
        {type: 'read', mbean: ENGINE, attribute: 'Alarms'}
      ], {
        method: 'post',
        success: function (response) {
          answers[response.request.mbean] = response.value;
          if (PROTECTIONS in answers && ENGINE in answers) {
            ctrl.error = '';
            update(answers[PROTECTIONS] || {}, answers[ENGINE]);
            $scope.$applyAsync();
          }
        },
        error: function (response) {
          if (response.request && response.request.mbean === PROTECTIONS && response.status === 404) {
            // no domain is protected here: the pattern matches no MBean
            answers[PROTECTIONS] = {};
          } else {
            ctrl.error = 'Reading ' + (response.request ? response.request.mbean : 'the MBeans') + ' failed: '
                + response.error;
            answers[response.request ? response.request.mbean : ENGINE] = null;
          }
          if (PROTECTIONS in answers && ENGINE in answers) {
            update(answers[PROTECTIONS] || {}, answers[ENGINE] || {});
          }
          $scope.$applyAsync();
        }
      });
    }

    /** Activates this node's replica of the domain: Jolokia refuses it to whoever the JMX ACLs do not allow. */
    ctrl.failover = function (row) {
      ctrl.message = 'Failover of ' + row.a.Domain + ' ...';
      jolokia.request({type: 'exec', mbean: row.mbean, operation: 'failover()'}, {
        method: 'post',
        success: function (response) {
          ctrl.message = 'Failover of ' + row.a.Domain + ': ' + response.value;
          $scope.$applyAsync();
        },
        error: function (response) {
          ctrl.message = (response.status === 403 ? 'Failover of ' + row.a.Domain + ' refused: '
              : 'Failover of ' + row.a.Domain + ' failed: ') + response.error;
          $scope.$applyAsync();
        }
      });
    };

    ctrl.$onInit = function () {
      poll();
      ctrl.timer = $interval(poll, 1000);
    };
    ctrl.$onDestroy = function () {
      $interval.cancel(ctrl.timer);
    };
  }

  var TEMPLATE = [
    '<div class="romulus-view" id="romulus-view">',
    '  <h1>Romulus</h1>',
    '  <div class="alert alert-danger" ng-if="$ctrl.error" id="romulus-error">{{$ctrl.error}}</div>',
    '  <h2>Protected domains</h2>',
    '  <p ng-if="$ctrl.domains.length === 0" id="romulus-none">No domain is protected or replicated on this node.</p>',
    '  <table class="table table-striped table-bordered" id="romulus-domains" ng-if="$ctrl.domains.length > 0">',
    '    <thead><tr><th>Domain</th><th>Role</th><th>State</th><th>Peer</th><th>Epoch</th><th>Epochs/s</th>',
    '      <th>Interval (ms)</th><th>Pause last / mean / p99 (&micro;s)</th><th>Dirty pages/s</th>',
    '      <th>Lag (epochs)</th><th>ACK (&micro;s)</th><th>Output held</th>',
    '      <th title="This node\'s engine: CPU time per checkpoint, and per second">Engine CPU (&micro;s/ckpt, ms/s)</th>',
    '      <th>Last alarm</th><th></th></tr></thead>',
    '    <tbody><tr ng-repeat="d in $ctrl.domains track by d.mbean" class="romulus-domain" data-domain="{{d.a.Domain}}">',
    '      <td><a ng-if="d.link" ng-href="{{d.link}}" ng-click="$ctrl.select(d.mbean)" class="romulus-mbean">{{d.a.Domain}}</a>',
    '        <span ng-if="!d.link">{{d.a.Domain}}</span></td>',
    '      <td class="romulus-role">{{d.a.Role}}</td>',
    '      <td class="romulus-state" title="{{d.a.Detail}}">{{d.a.State}}',
    '        <span ng-if="d.a.InitialSyncPercent < 100">({{d.a.InitialSyncPercent}}%)</span></td>',
    '      <td class="romulus-peer">{{d.a.Peer}}</td>',
    '      <td class="romulus-epoch">{{d.a.Epoch}}</td>',
    '      <td class="romulus-rate">{{$ctrl.number(d.a.CheckpointsPerSecond, 1)}}</td>',
    '      <td>{{d.a.IntervalMs}}</td>',
    '      <td class="romulus-pause">{{d.a.LastPauseMicros}} / {{$ctrl.number(d.a.MeanPauseMicros)}} / {{d.a.P99PauseMicros}}</td>',
    '      <td class="romulus-dirty">{{$ctrl.number(d.a.DirtyPagesPerSecond)}}</td>',
    '      <td class="romulus-lag">{{d.a.LagEpochs}}</td>',
    '      <td>{{d.a.AckLatencyMicros < 0 ? "" : d.a.AckLatencyMicros}}</td>',
    '      <td>{{d.a.OutputHeldPackets}}</td>',
    '      <td class="romulus-cpu">{{d.a.EngineCpuMicrosPerCheckpoint < 0 ? "-" : $ctrl.number(d.a.EngineCpuMicrosPerCheckpoint)}},',
    '        {{d.a.EngineCpuMillisPerSecond < 0 ? "-" : $ctrl.number(d.a.EngineCpuMillisPerSecond, 1)}}</td>',
    '      <td>{{d.a.LastAlarm}}</td>',
    '      <td><button type="button" class="btn btn-default romulus-failover" ng-click="$ctrl.failover(d)">Failover</button></td>',
    '    </tr></tbody>',
    '  </table>',
    '  <div class="alert alert-info" ng-if="$ctrl.message" id="romulus-message">{{$ctrl.message}}</div>',
    '  <div ng-repeat="d in $ctrl.domains track by d.mbean" class="romulus-charts" data-domain="{{d.a.Domain}}">',
    '    <h3>{{d.a.Domain}} ({{d.a.Role}})</h3>',
    '    <div style="display: inline-block; margin-right: 2em;">',
    '      <div>Pause (&micro;s): last <span class="romulus-chart-last">{{d.pause.last}}</span>,',
    '        top of the chart <span class="romulus-pause-max">{{$ctrl.number(d.pause.max)}}</span></div>',
    '      <svg class="romulus-chart romulus-chart-pause" ng-attr-width="{{$ctrl.width}}" ng-attr-height="{{$ctrl.height}}"',
    '           style="border: 1px solid #ccc; background: #fafafa;">',
    '        <polyline fill="none" stroke="#0088ce" stroke-width="1.5" ng-attr-points="{{d.pause.points}}"></polyline>',
    '      </svg>',
    '    </div>',
    '    <div style="display: inline-block;">',
    '      <div>Dirty pages per second: last <span class="romulus-chart-last">{{$ctrl.number(d.dirty.last)}}</span>,',
    '        top of the chart <span class="romulus-dirty-max">{{$ctrl.number(d.dirty.max)}}</span></div>',
    '      <svg class="romulus-chart romulus-chart-dirty" ng-attr-width="{{$ctrl.width}}" ng-attr-height="{{$ctrl.height}}"',
    '           style="border: 1px solid #ccc; background: #fafafa;">',
    '        <polyline fill="none" stroke="#3f9c35" stroke-width="1.5" ng-attr-points="{{d.dirty.points}}"></polyline>',
    '      </svg>',
    '    </div>',
    '  </div>',
    '  <h2>Alarms</h2>',
    '  <p><a id="romulus-engine" ng-if="$ctrl.engineLink" ng-href="{{$ctrl.engineLink}}" ng-click="$ctrl.select()">The Engine MBean</a>',
    '    (its Status, one line per domain; its Alarms; its operations)</p>',
    '  <p ng-if="$ctrl.alarms.length === 0" id="romulus-no-alarms">No alarm.</p>',
    '  <table class="table table-striped" id="romulus-alarms" ng-if="$ctrl.alarms.length > 0">',
    '    <thead><tr><th>Number and time</th><th>Kind, domain: message</th></tr></thead>',
    '    <tbody><tr ng-repeat="a in $ctrl.alarms"><td>{{a.when}}</td><td>{{a.what}}</td></tr></tbody>',
    '  </table>',
    '</div>'
  ].join('\n');

  angular.module(MODULE, [])
    .component('romulusView', {template: TEMPLATE, controller: RomulusController})
    .run(['mainNavService', 'workspace', function (mainNavService, workspace) {
      mainNavService.addItem({
        title: 'Romulus',
        basePath: '/romulus',
        template: '<romulus-view></romulus-view>',
        isValid: function () {
          return workspace.treeContainsDomainAndProperties('io.romulus');
        }
      });
    }]);

  hawtioPluginLoader.addModule(MODULE);
})();
